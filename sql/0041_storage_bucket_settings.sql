-- What an upload or a download needs to know about a bucket (is it public, its size limit, the
-- MIME types it accepts), readable inside the caller's own transaction: storage/object.ts reads
-- it in the same round trip as the object row it inserts or selects as the caller (RLS deciding),
-- so a small upload and a download are each one transaction instead of a superuser read plus the
-- caller's transaction. SECURITY DEFINER, as the caller may have no SELECT policy on
-- storage.buckets; it tells no more than the storage API tells anyone already: whether the bucket
-- exists (NoSuchBucket), whether it is public (public URLs), and its limits (the errors of an
-- upload that breaks them). The bucket's owner and timestamps stay behind RLS.
create or replace function storage.bucket_settings(bucket text)
returns table (id text, public boolean, file_size_limit bigint, allowed_mime_types text[])
language sql stable security definer set search_path = '' as $$
  select b.id, b.public, b.file_size_limit, b.allowed_mime_types from storage.buckets b where b.id = bucket
$$;
revoke all on function storage.bucket_settings(text) from public;
grant execute on function storage.bucket_settings(text) to anon, authenticated, service_role;
