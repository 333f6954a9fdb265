"""The seed's training script: LightGBM on iris, logged by MLflow autolog.

Run as a command job: python train.py --iris-csv ${{inputs.iris_csv}} --learning-rate ...
"""
import argparse

import lightgbm as lgb
import mlflow
import pandas as pd
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iris-csv", required=True)
    parser.add_argument("--num-boost-round", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--num-leaves", type=int, default=8)
    args = parser.parse_args()

    mlflow.lightgbm.autolog()

    df = pd.read_csv(args.iris_csv)
    labels = {name: i for i, name in enumerate(sorted(df["species"].unique()))}
    y = df.pop("species").map(labels)
    X_train, X_test, y_train, y_test = train_test_split(df, y, test_size=0.2, random_state=42)

    params = {
        "objective": "multiclass",
        "num_class": 3,
        "learning_rate": args.learning_rate,
        "num_leaves": args.num_leaves,
        "min_data_in_leaf": 5,
        "verbose": -1,
        "seed": 42,
    }
    with mlflow.start_run():
        booster = lgb.train(
            params,
            lgb.Dataset(X_train, label=y_train),
            num_boost_round=args.num_boost_round,
            valid_sets=[lgb.Dataset(X_test, label=y_test)],
        )
        accuracy = accuracy_score(y_test, booster.predict(X_test).argmax(axis=1))
        mlflow.log_metric("test_accuracy", accuracy)
        print(f"test accuracy: {accuracy:.3f}")


if __name__ == "__main__":
    main()
