"""Try it 01.3 · Which output field of the deployment holds the predicted label?

Subscribe with a prediction field the deployment does not return and read the error: it names the field the
deployment does return. `lab.list_assets(ws)` shows the outputs too.
"""
from __future__ import annotations

import openscale_lab as lab


def solve(workspace: lab.Workspace) -> str:
    deployment = lab.ensure_deployment(workspace)
    datamart = lab.DataMart(workspace.datamart_url)
    binding_id = lab.bind_ml_engine(datamart, workspace)
    try:
        lab.subscribe(datamart, workspace, deployment, binding_id=binding_id, label_column="Risk",
                      prediction_field="prediction_label", probability_fields=["probability"],
                      feature_fields=lab.FEATURE_COLUMNS, categorical_fields=lab.CATEGORICAL_COLUMNS)
    except lab.LabError as error:
        print(error)  # ... prediction_field='prediction_label' does not fit the deployment: ... it is '...'
    finally:
        datamart.close()
    assets = lab.list_assets(workspace)
    outputs = assets.loc[assets["deployment_id"] == deployment.deployment_id, "outputs"].iloc[0]
    print("the deployment returns:", outputs)
    return "predictedLabel"


def wrong(answer: str) -> str:
    return "prediction_label"


if __name__ == "__main__":
    print(lab.check.exercise_01_3(solve(lab.open_workspace())))
