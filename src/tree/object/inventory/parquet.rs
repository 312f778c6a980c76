//! The rows of an S3 Inventory report in Parquet (the `parquet` cargo feature): the
//! columns S3 writes (`bucket`, `key`, `size`, `last_modified_date`, and for reports of
//! all versions `is_latest` and `is_delete_marker`), read by name through the `parquet`
//! crate's row API, without Arrow. Rows are read a row group at a time: memory follows
//! the report's row groups, not the report.

use std::fs::File;

use parquet::file::reader::SerializedFileReader;
use parquet::record::Field;

/// What one row gives the sorter: key, whether it was not UTF-8, size, mtime, bucket.
type Keep<'a> = dyn FnMut(String, bool, u64, i64, Option<&str>) -> Result<(), String> + 'a;

/// Reads every row of `file`, handing each current object to `keep`.
pub fn rows(file: File, keep: &mut Keep) -> Result<(), String> {
    let reader = SerializedFileReader::try_from(file).map_err(|e| format!("not a Parquet file: {e}"))?;
    for (n, row) in reader.into_iter().enumerate() {
        let at = |why: String| format!("row {}: {why}", n + 1);
        let row = row.map_err(|e| at(e.to_string()))?;
        let (mut key, mut bucket, mut size, mut mtime) = (None, None, None, None);
        let (mut latest, mut deleted) = (true, false);
        for (name, field) in row.get_column_iter() {
            match (name.as_str(), field) {
                ("key", Field::Str(s)) => key = Some(s.clone()),
                ("bucket", Field::Str(s)) => bucket = Some(s.clone()),
                ("size", Field::Long(v)) => size = u64::try_from(*v).ok(),
                ("size", Field::ULong(v)) => size = Some(*v),
                ("last_modified_date", Field::TimestampMillis(ms)) => mtime = Some(ms.div_euclid(1000)),
                ("last_modified_date", Field::TimestampMicros(us)) => mtime = Some(us.div_euclid(1_000_000)),
                ("is_latest", Field::Bool(b)) => latest = *b,
                ("is_delete_marker", Field::Bool(b)) => deleted = *b,
                _ => {}
            }
        }
        if !latest || deleted {
            continue;
        }
        let key = key.ok_or_else(|| at("no `key` column: not an S3 Inventory report".into()))?;
        let size = size.ok_or_else(|| at(format!("{key}: no `size`: add Size to the inventory configuration")))?;
        let mtime = mtime.ok_or_else(|| {
            at(format!("{key}: no `last_modified_date`: add Last modified to the inventory configuration"))
        })?;
        keep(key, false, size, mtime, bucket.as_deref()).map_err(at)?;
    }
    Ok(())
}
