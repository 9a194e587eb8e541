"""Try it 03.2 · Which credit history does the model find riskiest?

`by_history` counts the payload log's predictions per CreditHistory value. Which CreditHistory value has the
highest share of `Risk` predictions (its Risk predictions divided by all its predictions)? Answer with the value,
a string.
"""
from __future__ import annotations

import openscale_lab as lab


def solve(workspace: lab.Workspace) -> str:
    deployment = lab.ensure_deployment(workspace)
    monitoring = lab.Monitoring.for_deployment(workspace, deployment)
    # the notebook's `by_history`: one row per (predictedLabel, CreditHistory) with its count, from the database
    by_history = lab.payload_distribution(monitoring.datamart, monitoring.subscription,
                                          ["predictedLabel", "CreditHistory"])
    monitoring.close()
    # a column per predicted label, a row per credit history; then each row's Risk count over its total
    table = by_history.pivot_table(index="CreditHistory", columns="predictedLabel", values="count", fill_value=0)
    share = table["Risk"] / table.sum(axis=1)
    return str(share.idxmax())


def wrong(answer: str) -> str:
    values = ["all_credits_paid_back", "credits_paid_to_date", "no_credits", "outstanding_credit",
              "prior_payments_delayed"]
    return next(v for v in values if v != answer)


if __name__ == "__main__":
    print(lab.check.exercise_03_2(solve(lab.open_workspace())))
