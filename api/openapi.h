/*
 * docs/openapi.yaml as the JSON egress-api serves at GET /api/openapi.json,
 * built into the program (api/openapi_json.c is generated from the YAML by
 * api/openapi-embed.py when egress-api is built).
 */
#ifndef API_OPENAPI_H
#define API_OPENAPI_H

/* The document as compact UTF-8 JSON, NUL-terminated; its length in bytes. */
extern const char api_openapi_json[];
extern const unsigned long api_openapi_json_len;

#endif
