/* fc_client_version: which feedcache release the library comes from (a
 * caller linked against the shared library may log it). */
#include "feedcache/client.h"

#include "fc_version.h"

const char *fc_client_version(void)
{
    return FC_VERSION;
}
