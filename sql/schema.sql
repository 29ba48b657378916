-- feedcache: the default schema of the source of truth (docs/PROTOCOL.md,
-- "PostgreSQL, the source of truth").
--
-- The timeline API owns these tables and writes them; feedcache only reads.
-- Idempotent: applying it again changes nothing, so deploys may always run
--   psql -v ON_ERROR_STOP=1 -d feedcache -f sql/schema.sql
--
-- created_at values are whole milliseconds (the API writes them so); the RPC
-- carries them as int64 milliseconds since the Unix epoch.
--
-- Every index below names the query it serves. Together with the primary
-- keys they keep every statement in src/store/pg/pg_queries.h off sequential
-- scans. On a large live database, create a missing index beforehand with
-- CREATE INDEX CONCURRENTLY (same name): this file would lock the table for
-- writes while it builds one, and skips an index that already exists.

BEGIN;

CREATE TABLE IF NOT EXISTS users (
    id             bigint PRIMARY KEY,
    handle         text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_active_at timestamptz
);

-- Primary key (follower_id, followee_id) serves "followees of a user"
-- (WHERE follower_id = $1: timeline rebuild, the authors a home feed merges),
-- and the existence check of one follow.
CREATE TABLE IF NOT EXISTS follows (
    follower_id bigint NOT NULL REFERENCES users(id),
    followee_id bigint NOT NULL REFERENCES users(id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (follower_id, followee_id)
);

-- Primary key serves "posts by id" (hydration: WHERE id = ANY($1)).
CREATE TABLE IF NOT EXISTS posts (
    id         bigint PRIMARY KEY,
    author_id  bigint NOT NULL REFERENCES users(id),
    created_at timestamptz NOT NULL,
    body       text NOT NULL,
    deleted_at timestamptz
);

-- "Followers of an author" (fan-out: WHERE followee_id = $1, and the
-- follower count that decides celebrity mode). follower_id is in the key so
-- the scan is index-only and pages by follower_id > $2 in index order. Also
-- the index PostgreSQL needs to check follows' foreign key on followee_id
-- when a user row is deleted.
CREATE INDEX IF NOT EXISTS follows_followee_idx
    ON follows (followee_id, follower_id);

-- "Newest posts of a set of authors" (timeline rebuild, celebrity merge at
-- read time, pages past the cached window): per author
--   WHERE author_id = $1 AND deleted_at IS NULL
--     AND (created_at, id) < ($2, $3)
--   ORDER BY created_at DESC, id DESC LIMIT $4
-- reads the index in order and stops at the limit (keyset pages, ties on
-- created_at broken by id). Partial: deleted posts are never wanted, so they
-- are not in it.
CREATE INDEX IF NOT EXISTS posts_author_created_idx
    ON posts (author_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;

-- "Users active in a time range, in pages" (warm with active_within_s:
--   WHERE last_active_at BETWEEN $1 AND $2 AND (last_active_at, id) > ($3, $4)
--   ORDER BY last_active_at, id LIMIT $5, and the count of that range):
-- keyset pages read the index in order, index-only. (An earlier schema had
-- users_last_active_idx on last_active_at alone; this one serves its queries
-- too, so a database that still has it may drop it.)
CREATE INDEX IF NOT EXISTS users_last_active_id_idx
    ON users (last_active_at, id);

COMMIT;
