/* Request counters and the Prometheus text of GET /metrics. */
#ifndef API_METRICS_H
#define API_METRICS_H

#include "api/http.h"

/* Count one answered request (route is the route pattern or "unmatched"). */
void metrics_count_request(const char *method, const char *route, unsigned status);

/* GET /metrics (admin). */
void metrics_handle(struct http_request *r);

#endif
