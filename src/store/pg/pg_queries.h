/* Every SQL statement feedcache sends, in one table. Each is prepared on
 * every connection as "fc_<name>". docs/DATA_MODEL.md lists them with the
 * index each one uses. */
#ifndef FC_STORE_PG_PG_QUERIES_H
#define FC_STORE_PG_PG_QUERIES_H

/* Most parameters a statement of the table may take (pg_queries.c checks
 * it at compile time), so callers can format them on the stack. */
#define PG_MAX_PARAMS 16

/* Q(name, nparams, sql) */
#define PG_MS(col) "(extract(epoch FROM " col ") * 1000)::int8"
#define PG_TS(param) "('epoch'::timestamptz + " param "::int8 * interval '1 millisecond')"

#define PG_QUERIES(Q) \
    Q(ping, 0, "SELECT 1") \
    /* Publish: is the author a celebrity? follows_followee_idx, index-only. */ \
    Q(follower_count, 1, "SELECT count(*) FROM follows WHERE followee_id = $1") \
    /* Fan-out: followers of $1 after follower $2, in pages. follows_followee_idx. */ \
    Q(followers_page, 3, \
      "SELECT follower_id FROM follows WHERE followee_id = $1 AND follower_id > $2 " \
      "ORDER BY follower_id LIMIT $3") \
    /* Rebuild: whom $1 follows. The primary key (follower_id, followee_id). */ \
    Q(followees, 1, "SELECT followee_id FROM follows WHERE follower_id = $1") \
    /* Rebuild in one round trip: whom $2 follows (rows with a NULL id: \
     * followee_id in the author column), then the newest $3 live posts of $2 \
     * and its followees but the authors in $1 (the celebrities known so far), \
     * one index range scan per author merged by a top-N sort. The primary key \
     * of follows, then posts_author_created_idx. */ \
    Q(feed_rebuild_all, 3, \
      "WITH f AS MATERIALIZED (SELECT followee_id FROM follows WHERE follower_id = $2) " \
      "SELECT NULL::int8, followee_id, NULL::int8 FROM f UNION ALL " \
      "(SELECT p.id, p.author_id, " PG_MS("p.created_at") " FROM " \
      "(SELECT $2::int8 AS id UNION ALL SELECT followee_id FROM f) a " \
      "CROSS JOIN LATERAL (SELECT id, author_id, created_at FROM posts " \
      "WHERE author_id = a.id AND deleted_at IS NULL " \
      "ORDER BY created_at DESC, id DESC LIMIT $3) p " \
      "WHERE a.id <> ALL($1::int8[]) " \
      "ORDER BY p.created_at DESC, p.id DESC LIMIT $3)") \
    /* Author set rebuild: newest $2 live posts of $1 (posts_author_created_idx). */ \
    Q(author_posts, 2, \
      "SELECT id, " PG_MS("created_at") " FROM posts WHERE author_id = $1 AND deleted_at IS NULL " \
      "ORDER BY created_at DESC, id DESC LIMIT $2") \
    /* Hydration misses: posts by id, deleted ones too (primary key). */ \
    Q(posts_by_ids, 1, \
      "SELECT id, author_id, " PG_MS("created_at") ", body, deleted_at IS NOT NULL " \
      "FROM posts WHERE id = ANY($1::int8[])") \
    /* A timeline page from PostgreSQL (Redis down, or past the cached window): \
     * posts of $1 and its followees strictly after ($2 ms, $3 id), $4 of them. \
     * Per author a range scan of posts_author_created_idx; the PK for followees. */ \
    Q(timeline_page, 4, \
      "SELECT p.id, p.author_id, " PG_MS("p.created_at") ", p.body FROM " \
      "(SELECT $1::int8 AS id UNION SELECT followee_id FROM follows WHERE follower_id = $1) a " \
      "CROSS JOIN LATERAL (SELECT id, author_id, created_at, body FROM posts " \
      "WHERE author_id = a.id AND deleted_at IS NULL " \
      "AND (created_at, id) < (" PG_TS("$2") ", $3::int8) " \
      "ORDER BY created_at DESC, id DESC LIMIT $4) p " \
      "ORDER BY p.created_at DESC, p.id DESC LIMIT $4") \
    /* Warm by activity: users with last_active_at in [$1, $2] (epoch \
     * microseconds, fixed at the job's start), counted once, then streamed in \
     * keyset pages after ($3 us, $4 id), $5 at a time. An index-only range \
     * scan of users_last_active_id_idx, in index order. */ \
    Q(warm_active_count, 2, \
      "SELECT count(*) FROM users " \
      "WHERE last_active_at >= ('epoch'::timestamptz + $1::int8 * interval '1 microsecond') " \
      "AND last_active_at <= ('epoch'::timestamptz + $2::int8 * interval '1 microsecond')") \
    Q(warm_active_page, 5, \
      "SELECT id, (extract(epoch FROM last_active_at) * 1000000)::int8 FROM users " \
      "WHERE last_active_at >= ('epoch'::timestamptz + $1::int8 * interval '1 microsecond') " \
      "AND last_active_at <= ('epoch'::timestamptz + $2::int8 * interval '1 microsecond') " \
      "AND (last_active_at, id) > " \
      "(('epoch'::timestamptz + $3::int8 * interval '1 microsecond'), $4::int8) " \
      "ORDER BY last_active_at, id LIMIT $5")

typedef enum {
#define PG_QUERY_ENUM(name, nparams, sql) PGQ_##name,
    PG_QUERIES(PG_QUERY_ENUM)
#undef PG_QUERY_ENUM
    PGQ__COUNT
} pg_stmt_t;

typedef struct {
    const char *name;       /* "fc_<name>" */
    int nparams;
    const char *sql;
} pg_query_def_t;

extern const pg_query_def_t pg_queries[PGQ__COUNT];

#endif
