"""Try it 05.1 · Which biased transaction's explanation depends most on Age?

Pick the hour with the lowest fairness (the guided tour does) and list its biased transactions. Explain the
first five listed (each row's Explain button, or `dashboard.explain(transaction_id)`): whose explanation gives
Age the largest LIME weight in size, whatever its sign? Answer with its transaction id.
"""
from __future__ import annotations

import openscale_lab as lab


def solve(workspace: lab.Workspace) -> str:
    data = lab.InsightsData(workspace)  # what the dashboard reads (`dashboard.data` in the notebook)
    subscription_id = data.overview()[0]["subscription_id"]
    hour, _ = data.lowest_fairness_hour(subscription_id)
    biased = data.transactions(subscription_id, hour, biased_only=True).head(5)
    weights = {}
    for transaction_id in biased["scoring_id"]:
        # as the Explain button: the stored explanation, computed and stored first if there is none
        explanation = data.explanation(subscription_id, transaction_id)
        age = [f["weight"] for f in explanation["lime"]["features"] if f["feature"] == "Age"]
        weights[transaction_id] = abs(age[0]) if age else 0.0  # a negative weight counts as much
    data.close()
    return max(weights, key=weights.get)


def wrong(answer: str) -> str:
    return answer[:-1] + ("0" if answer[-1] != "0" else "1")  # a transaction id that looks alike


if __name__ == "__main__":
    print(lab.check.exercise_05_1(solve(lab.open_workspace())))
