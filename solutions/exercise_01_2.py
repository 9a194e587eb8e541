"""Try it 01.2 · Score an applicant of your own and answer with the reply's transaction id.

Take the first of the tutorial's eight applicants, make them younger and ask for a larger loan, score them,
and take the `transaction_id` of the reply: the check finds the record in the payload log.
"""
from __future__ import annotations

import openscale_lab as lab


def solve(workspace: lab.Workspace) -> str:
    deployment = lab.ensure_deployment(workspace)
    payload = lab.sample_payload()
    applicant = dict(zip(payload["fields"], payload["values"][0]))
    applicant["Age"] = 19
    applicant["LoanAmount"] = 12000
    reply = lab.score(deployment, {"fields": list(applicant), "values": [list(applicant.values())]})
    scored = lab.reply_frame(reply)
    print(scored[["Age", "LoanAmount", "predictedLabel", "probability"]])
    return str(scored["transaction_id"].iloc[0])


def wrong(answer: str) -> str:
    return answer + "-not-scored"


if __name__ == "__main__":
    print(lab.check.exercise_01_2(solve(lab.open_workspace())))
