# An entry script decorated with inference-schema, as Azure ML samples write them.
import numpy as np
import pandas as pd
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.pandas_parameter_type import PandasParameterType
from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema, output_schema


def init():
    pass


@input_schema("data", NumpyParameterType(np.array([[1.0, 2.0, 3.0]])))
@input_schema("table", PandasParameterType(pd.DataFrame({"a": [1.0], "b": ["x"]})))
@input_schema("factor", StandardPythonParameterType(2.0))
@output_schema(StandardPythonParameterType({"sums": [12.0], "types": ["ndarray"]}))
def run(data, table, factor):
    return {
        "sums": (data.sum(axis=1) * factor).tolist(),
        "types": [type(data).__name__, type(table).__name__, type(factor).__name__],
        "table_rows": len(table),
    }
