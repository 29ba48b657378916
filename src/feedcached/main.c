#include <stdio.h>
#include "fc_version.h"
int main(void) { printf("feedcached %s\n", FC_VERSION); return 0; }
