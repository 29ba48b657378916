/* The pg_queries[] table, generated from PG_QUERIES so that a statement is
 * written once (pg_queries.h) and named, counted and prepared from here. */
#include "store/pg/pg_queries.h"

const pg_query_def_t pg_queries[PGQ__COUNT] = {
#define PG_QUERY_DEF(name, nparams, sql) [PGQ_##name] = { "fc_" #name, nparams, sql },
    PG_QUERIES(PG_QUERY_DEF)
#undef PG_QUERY_DEF
};

#define PG_QUERY_CHECK(name, nparams, sql) \
    _Static_assert(nparams <= PG_MAX_PARAMS, "statement " #name " takes too many parameters");
PG_QUERIES(PG_QUERY_CHECK)
#undef PG_QUERY_CHECK
