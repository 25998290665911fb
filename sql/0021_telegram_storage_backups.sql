-- The telegram storage backend's chunk manifest (storage/backend/telegram.ts) and the record of
-- verified backup restores (backup/verify.ts). Neither is reachable by the API roles.
--
-- A blob is one row of telegram_blobs, keyed like every backend's blob (bucket/name/@version),
-- its bytes the documents of its telegram_chunks in order. 'staged' blobs are being written (or
-- were left by a failed write), 'committed' ones are readable, 'deleting' ones have messages
-- still to delete; the storage cleanup job (storage/cleanup.ts) removes the first and last kind.
-- A copy shares the source's documents: a message is deleted when no chunk names it any more.
create table storage.telegram_blobs (
  id uuid primary key,
  key text not null,
  state text not null default 'staged' check (state in ('staged', 'committed', 'deleting')),
  size bigint not null default 0,
  etag text,
  updated_at timestamptz not null default now()
);
create unique index telegram_blobs_committed_key on storage.telegram_blobs (key) where state = 'committed';

create table storage.telegram_chunks (
  blob_id uuid not null references storage.telegram_blobs (id) on delete cascade,
  index integer not null,
  message_id bigint not null,
  file_id text not null,
  size integer not null,
  primary key (blob_id, index)
);
create index telegram_chunks_message on storage.telegram_chunks (message_id);

-- `nextmavens backup verify`: each restore of a backup into a throwaway Postgres and its outcome.
create table nextmavens.backup_verifications (
  id bigint generated always as identity primary key,
  backup text not null,
  ok boolean not null,
  detail jsonb not null,
  verified_at timestamptz not null default now()
);
