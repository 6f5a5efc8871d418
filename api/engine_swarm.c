#include "api/engine_client.h"
const struct engine_ops engine_swarm_ops = {.name = "swarm"};
