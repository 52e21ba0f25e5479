-- One session per S3 upload: browsers in Uppy's signRequest mode open the upload in S3
-- themselves, and the first caller to sign for its UploadId owns it.
CREATE UNIQUE INDEX upload_sessions_s3_upload ON upload_sessions (bucket, s3_upload_id);
