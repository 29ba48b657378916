/* Every SQL statement feedcache sends, in one table. Each is prepared on
 * every connection as "fc_<name>". docs/DATA_MODEL.md lists them with the
 * index each one uses. */
#ifndef FC_STORE_PG_PG_QUERIES_H
#define FC_STORE_PG_PG_QUERIES_H

/* Q(name, nparams, sql) */
#define PG_QUERIES(Q) \
    Q(ping, 0, "SELECT 1")

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
