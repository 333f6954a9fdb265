"""The sample's training script: LightGBM on iris, recorded by MLflow autolog.

main.py runs it as a command job with the same command line as on Azure ML:
``python train.py --iris-csv ${{inputs.iris_csv}} --learning-rate ${{inputs.learning_rate}}
--boosting ${{inputs.boosting}}``. autolog logs the booster as the run's ``model``, which
main.py then registers from ``azureml://jobs/<job>/outputs/artifacts/paths/model/``.
"""

import argparse

import lightgbm as lgb
import mlflow
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iris-csv", required=True, help="CSV with the four features and species.")
    parser.add_argument("--num-boost-round", type=int, default=10)
    parser.add_argument("--boosting", default="gbdt")
    parser.add_argument("--num-iterations", type=int, default=16)
    parser.add_argument("--num-leaves", type=int, default=31)
    parser.add_argument("--num-threads", type=int, default=0)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--metric", default="multi_logloss")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--verbose", type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    # No start_run: the job already has a run (MLFLOW_RUN_ID), and autolog logs into it.
    mlflow.autolog()

    frame = pd.read_csv(args.iris_csv)
    features = frame.drop(columns=["species"])
    labels = LabelEncoder().fit_transform(frame["species"])
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=0.2, random_state=42)

    params = {
        "objective": "multiclass",
        "num_class": 3,
        "boosting": args.boosting,
        "num_iterations": args.num_iterations,
        "num_leaves": args.num_leaves,
        "num_threads": args.num_threads,
        "learning_rate": args.learning_rate,
        "metric": args.metric,
        "seed": args.seed,
        "verbose": args.verbose,
    }
    lgb.train(
        params,
        lgb.Dataset(x_train, label=y_train),
        num_boost_round=args.num_boost_round,
        valid_sets=[lgb.Dataset(x_test, label=y_test)],
        valid_names=["test"],
    )


if __name__ == "__main__":
    main()
