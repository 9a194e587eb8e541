# JupyterHub for an OpenScale Lab classroom: every student logs in to a Jupyter server of their own that starts
# in their folder of the class (their copy of the notebooks, their lab workspace), with their data mart (their
# PostgreSQL schema), ports and Spark settings in its environment, so that the notebooks' defaults are their lab.
#
#   make classroom                                            # JupyterHub, JupyterLab and the proxy, into .venv
#   .venv/bin/openscale-lab classroom create --roster students.txt --datamart-url postgresql+psycopg://... \
#       --root /srv/class
#   OPENSCALE_LAB_CLASSROOM=/srv/class OPENSCALE_LAB_HUB_PASSWORD=... OPENSCALE_LAB_HUB_ADMIN_PASSWORD=... \
#       .venv/bin/jupyterhub -f classroom/jupyterhub_config.py
#
# Settings from the environment (README, "Classrooms"):
#   OPENSCALE_LAB_CLASSROOM          the class's folder (required)
#   OPENSCALE_LAB_HUB_IP, _PORT      where students open the hub (default 127.0.0.1:8000); the hub's own API and
#                                    the proxy's take the next two ports
#   OPENSCALE_LAB_HUB_PASSWORD       the password students log in with (8 characters or more)
#   OPENSCALE_LAB_HUB_ADMIN, _ADMIN_PASSWORD   the instructor's user name (default "instructor") and password
#                                    (32 characters or more); the instructor can open any student's server
#   OPENSCALE_LAB_HUB_API_TOKEN      optional: a token with admin rights over users and servers, for scripts
import os
import sys
from pathlib import Path

from openscale_lab.classroom import Classroom

c = get_config()  # noqa: F821 (JupyterHub defines it when it reads this file)

room = Classroom.open(os.environ.get("OPENSCALE_LAB_CLASSROOM"))
state = room.root / "hub"  # the hub's database, cookie secret and proxy pid file
state.mkdir(exist_ok=True)
venv_bin = Path(sys.executable).parent

# -- where the hub listens -------------------------------------------------------------------------------------
ip = os.environ.get("OPENSCALE_LAB_HUB_IP", "127.0.0.1")
port = int(os.environ.get("OPENSCALE_LAB_HUB_PORT", "8000"))
c.JupyterHub.bind_url = f"http://{ip}:{port}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = port + 1
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{port + 2}"
proxy = Path(sys.prefix) / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy"  # make classroom's
if proxy.exists():
    c.ConfigurableHTTPProxy.command = [str(proxy)]
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every student's server

# -- who logs in -----------------------------------------------------------------------------------------------
# A shared password per role, JupyterHub's authenticator for workshops: anyone with the class's password can log
# in as any student on the roster (no more), so it suits a class on a trusted network, for the length of the
# class; serve the hub over HTTPS (c.JupyterHub.ssl_cert / ssl_key, or a proxy in front) beyond the local
# machine. A site with accounts plugs its own authenticator in here (PAM, OAuth, ...): any works, as long as
# user names are the class's student names.
from jupyterhub.authenticators.shared import SharedPasswordAuthenticator  # noqa: E402


class ClassroomAuthenticator(SharedPasswordAuthenticator):
    """The shared-password login, for the students on the class's roster as it is now (students that
    `openscale-lab classroom create` adds can log in at once; removed ones no more) and the instructor."""

    def check_allowed(self, username, authentication=None):  # noqa: ANN001, ANN201 (JupyterHub's signature)
        return username in self.admin_users or username in Classroom.open(room.root).names


admin = os.environ.get("OPENSCALE_LAB_HUB_ADMIN", "instructor")
password, admin_password = (os.environ.get("OPENSCALE_LAB_HUB_PASSWORD") or "",
                            os.environ.get("OPENSCALE_LAB_HUB_ADMIN_PASSWORD") or "")
if len(password) < 8 or (admin_password and len(admin_password) < 32):
    sys.exit("classroom hub: set OPENSCALE_LAB_HUB_PASSWORD (8 characters or more) for the students, and "
             "OPENSCALE_LAB_HUB_ADMIN_PASSWORD (32 or more) for the instructor")
c.JupyterHub.authenticator_class = ClassroomAuthenticator
c.SharedPasswordAuthenticator.user_password = password
c.SharedPasswordAuthenticator.admin_password = admin_password or None
c.Authenticator.allowed_users = set(room.names)
c.Authenticator.allow_existing_users = False  # a student removed from the class cannot log in again
c.Authenticator.admin_users = {admin}
if os.environ.get("OPENSCALE_LAB_HUB_API_TOKEN"):
    c.JupyterHub.services = [{"name": "classroom-admin", "api_token": os.environ["OPENSCALE_LAB_HUB_API_TOKEN"]}]
    c.JupyterHub.load_roles = [{"name": "classroom-admin", "services": ["classroom-admin"],
                                "scopes": ["admin:users", "admin:servers", "admin:server_state", "access:servers"]}]

# -- each student's server -------------------------------------------------------------------------------------
# Student servers run as the hub's system user, each in the student's folder of the class. (JupyterHub's
# LocalProcessSpawner with a system account per student, or a container spawner, isolates students from each
# other's files too; the lab's settings below work the same with either.)
c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
c.SimpleLocalProcessSpawner.home_dir_template = str(room.root / "students" / "{username}")
c.Spawner.cmd = [str(venv_bin / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab/tree/notebooks/00_provision_services.ipynb"
# a kernel idle for half an hour is shut down, and the memory of its Spark driver with it (the notebooks bring
# back what they need when run again); running deployments stay
c.Spawner.args = ["--MappingKernelManager.cull_idle_timeout=1800", "--MappingKernelManager.cull_interval=300"]
if os.geteuid() == 0:  # a hub run as root (a container, a throwaway VM) runs the students' servers as root too
    c.Spawner.args.append("--allow-root")
c.Spawner.http_timeout = 120  # a busy class: many servers start at once
c.Spawner.start_timeout = 120


PASSED_ON = ("JAVA_HOME", "SPARK_HOME", "OPENSCALE_LAB_JDBC_JAR", "OPENSCALE_LAB_NOTEBOOKS",
             "OPENSCALE_LAB_CELL_TIMEOUT")


def student_environment(spawner):  # noqa: ANN001, ANN201 (JupyterHub's hook)
    """The student's lab: workspace, data mart URL (their schema), Spark settings (see Classroom.environment);
    the instructor's server opens in the class's folder, on the class page."""
    now = Classroom.open(room.root)  # the class as it is now: students may have been added since the hub started
    # what the lab needs of the hub's environment besides JupyterHub's own short list (Java, the JDBC driver, ...)
    spawner.environment.update({k: os.environ[k] for k in PASSED_ON if k in os.environ})
    if spawner.user.name in now.names:
        spawner.environment.update(now.environment(spawner.user.name))
    elif spawner.user.admin:
        spawner.home_dir = str(now.root)
        spawner.default_url = "/lab/tree/class_insights.ipynb"
        spawner.environment.update({"OPENSCALE_LAB_CLASSROOM": str(now.root)})
    else:
        raise RuntimeError(f"{spawner.user.name} is not a student of the classroom at {now.root}")


c.Spawner.pre_spawn_hook = student_environment
# an idle student's server is not stopped: their deployments and kernels are their lab (reset them with
# openscale-lab classroom reset)
