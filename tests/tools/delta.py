# A real Delta Lake table for the tests, written and read by the deltalake package
# (delta-rs): `delta.py PATH write DATE...` appends one partition per date; `delta.py
# PATH read` prints the row count, reading every data file the log names (it fails when
# one is missing).
import sys
from arro3.core import Table, Array, DataType
from deltalake import write_deltalake, DeltaTable, QueryBuilder
path, mode = sys.argv[1], sys.argv[2]
if mode == "write":
    for day in sys.argv[3:]:
        t = Table.from_pydict({"dt": Array([day] * 3, DataType.string()), "v": Array([1, 2, 3], DataType.int64())})
        write_deltalake(path, t, partition_by=["dt"], mode="append")
else:
    dt = DeltaTable(path)
    batch = QueryBuilder().register("t", dt).execute("select count(*) as n from t").read_all()
    print(batch["n"][0].as_py())
