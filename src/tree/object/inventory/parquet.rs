//! The rows of an S3 Inventory report in Parquet (built with the `parquet` feature).
