-- A small, realistic demo graph for feedcache (loaded by scripts/run.sh).
--
--   psql -X -v ON_ERROR_STOP=1 "$FEEDCACHE_TEST_PG" -f scripts/demo-data.sql
--
-- * 1,000 users (ids 1..1000). Users 1..5 are "celebrities" with several
--   hundred followers each (300..700): set celebrity_threshold to 300 to see
--   their posts merged at read time instead of fanned out.
-- * About 20 follows per user (random others, plus some celebrities).
-- * 20,000 posts over the last 30 days with whole-millisecond created_at
--   (as the timeline API writes them), snowflake-style ids that grow with
--   time, a few posts sharing a created_at (ties are ordered by id), and 40
--   deleted posts.
-- * last_active_at within the last day for about a third of the users (what
--   `warm active_within_s` picks), older or never for the rest.
--
-- Idempotent: it empties the three tables first. Deterministic: the same
-- graph every time (setseed), with times relative to now(). Needs
-- sql/schema.sql applied first (scripts/services.sh start does that).

\set ON_ERROR_STOP 1
BEGIN;

SELECT setseed(0.42) \gset

TRUNCATE posts, follows, users CASCADE;

-- Users. Celebrities and a third of the others were active within the last day.
INSERT INTO users (id, handle, created_at, last_active_at)
SELECT u,
       CASE WHEN u <= 5
            THEN (ARRAY['newsdesk', 'popstar', 'athlete', 'chef', 'astronaut'])[u]
            ELSE 'user' || u END,
       now() - interval '400 days' + u * interval '5 minutes',
       CASE WHEN u <= 5 OR r < 0.33 THEN now() - random() * interval '23 hours'
            WHEN r < 0.80 THEN now() - interval '1 day' - random() * interval '29 days'
            ELSE NULL END
FROM (SELECT u, random() AS r FROM generate_series(1, 1000) AS u) AS g;

-- Celebrity followers: celebrity c is followed by 30% .. 70% of the others.
-- (random() is drawn in the select list: in WHERE, the planner would push it
-- down and evaluate it once per celebrity.)
INSERT INTO follows (follower_id, followee_id, created_at)
SELECT f, c, now() - random() * interval '300 days'
FROM (SELECT c, f, random() AS r
      FROM generate_series(1, 5) AS c, generate_series(6, 1000) AS f) AS g
WHERE r < 0.2 + 0.1 * c;

-- Everyone follows ~18 random others (duplicates and self-follows dropped).
INSERT INTO follows (follower_id, followee_id, created_at)
SELECT DISTINCT ON (f, t) f, t, now() - random() * interval '300 days'
FROM (SELECT f, 6 + floor(random() * 995)::bigint AS t
      FROM generate_series(1, 1000) AS f, generate_series(1, 18) AS k) AS g
WHERE f <> t
ON CONFLICT DO NOTHING;

-- Posts. created_at is a whole number of milliseconds within the last 30
-- days; the id is (ms since 2010-11-04 << 22) | n, like a snowflake id.
-- Celebrities write 150 posts each; other authors are skewed towards low ids
-- so that some users post a lot and many post little.
CREATE TEMP TABLE demo_posts ON COMMIT DROP AS
SELECT n,
       CASE WHEN n <= 750 THEN 1 + (n - 1) / 150
            ELSE 6 + floor(995 * random() ^ 1.5)::bigint END AS author_id,
       floor(extract(epoch FROM now()) * 1000)::bigint
           - floor(random() * 30 * 86400 * 1000)::bigint AS ms
FROM generate_series(1, 20000) AS n;

-- Ties: the last 20 posts reuse the created_at of 20 others.
UPDATE demo_posts AS p SET ms = q.ms
FROM demo_posts AS q
WHERE p.n > 19980 AND q.n = p.n - 10000;

INSERT INTO posts (id, author_id, created_at, body, deleted_at)
SELECT ((ms - 1288834974657) << 22) | n,
       author_id,
       timestamptz 'epoch' + ms * interval '1 millisecond',
       (ARRAY['Good morning, timeline!',
              'Shipping a new release today.',
              'Anyone else watching the match tonight?',
              'Coffee first, then code.',
              'Reading about fan-out on write vs. fan-out on read.',
              'Photos from the weekend hike.',
              'Hot take: caches are just memoization with a pager.',
              'New recipe: miso butter pasta.',
              'Launch window opens at dawn.',
              'Thread: what I learned running Redis in production'])[1 + n % 10]
           || ' #' || n,
       CASE WHEN n % 500 = 250
            THEN least(timestamptz 'epoch' + ms * interval '1 millisecond' + interval '1 hour', now())
            END
FROM demo_posts;

COMMIT;

ANALYZE users;
ANALYZE follows;
ANALYZE posts;

SELECT (SELECT count(*) FROM users) AS users,
       (SELECT count(*) FROM follows) AS follows,
       (SELECT count(*) FROM posts) AS posts,
       (SELECT count(*) FROM posts WHERE deleted_at IS NOT NULL) AS deleted,
       (SELECT string_agg(n::text, ' ' ORDER BY followee_id)
          FROM (SELECT followee_id, count(*) AS n FROM follows
                WHERE followee_id <= 5 GROUP BY followee_id) AS c) AS celebrity_followers,
       (SELECT count(*) FROM users WHERE last_active_at > now() - interval '1 day') AS active_1d;
