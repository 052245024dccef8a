// The API description served at /api/v1/openapi.yaml: a copy of openapi.yaml at the
// repository's root (RuntimeTests/OpenAPIDocumentTests keeps the two identical).
enum OpenAPIDocument {
    static let yaml = #"""
openapi: 3.0.3
info:
  title: Aegis REST API
  version: 0.2.0
  description: >
    One Aegis node's HTTP API. Any node answers every call: a follower carries writes and
    reads to the leader. Errors are {"success":false,"error":"<sentence>","code":"<code>"}.
    Send X-Aegis-Request-Id (CLIENT-SEQUENCE) on a write to make its retries apply once.
servers:
  - url: http://127.0.0.1:9090
paths:
  /health:
    get:
      summary: The process answers.
      responses:
        "200": {description: Healthy, content: {application/json: {schema: {$ref: "#/components/schemas/Health"}}}}
  /health/live:
    get:
      summary: The process is alive.
      responses:
        "200": {description: Alive, content: {application/json: {schema: {$ref: "#/components/schemas/Health"}}}}
  /health/ready:
    get:
      summary: This node sees a leader and can serve.
      responses:
        "200": {description: Ready, content: {application/json: {schema: {type: object, properties: {status: {type: string}, node_id: {type: integer}, leader_id: {type: integer}}}}}}
        "503": {$ref: "#/components/responses/Error"}
  /api/v1/kv/keys:
    get:
      summary: List entries whose key starts with a prefix, in key order.
      parameters:
        - {name: prefix, in: query, schema: {type: string}}
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 1000, default: 100}}
        - $ref: "#/components/parameters/Consistency"
      responses:
        "200": {description: Entries, content: {application/json: {schema: {type: object, properties: {keys: {type: array, items: {$ref: "#/components/schemas/Entry"}}, total: {type: integer}}}}}}
        "400": {$ref: "#/components/responses/Error"}
    post:
      summary: Set a key to any JSON value, with an optional time to live in seconds.
      parameters:
        - $ref: "#/components/parameters/RequestId"
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: "#/components/schemas/EntryInput"}}}
      responses:
        "200": {description: The stored entry, content: {application/json: {schema: {$ref: "#/components/schemas/Entry"}}}}
        "400": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
        "503": {$ref: "#/components/responses/Error"}
        "504": {$ref: "#/components/responses/Error"}
  /api/v1/kv/keys/{key}:
    parameters:
      - {name: key, in: path, required: true, schema: {type: string}, description: "percent-encoded; may contain /"}
    get:
      summary: Read one entry (linearizable unless consistency=local).
      parameters:
        - $ref: "#/components/parameters/Consistency"
      responses:
        "200": {description: The entry, content: {application/json: {schema: {$ref: "#/components/schemas/Entry"}}}}
        "404": {$ref: "#/components/responses/Error"}
    delete:
      summary: Delete one key.
      parameters:
        - $ref: "#/components/parameters/RequestId"
      responses:
        "200": {description: Deleted (success is false when the key was absent), content: {application/json: {schema: {type: object, properties: {success: {type: boolean}, key: {type: string}}}}}}
  /api/v1/kv/batch/get:
    post:
      summary: Read many keys; absent keys are left out.
      requestBody: {required: true, content: {application/json: {schema: {type: object, required: [keys], properties: {keys: {type: array, maxItems: 1000, items: {type: string}}}}}}}
      responses:
        "200": {description: Entries, content: {application/json: {schema: {type: object, properties: {entries: {type: array, items: {$ref: "#/components/schemas/Entry"}}}}}}}
        "400": {$ref: "#/components/responses/Error"}
  /api/v1/kv/batch/set:
    post:
      summary: Set many keys (each atomically, not the batch as a whole).
      requestBody: {required: true, content: {application/json: {schema: {type: object, required: [entries], properties: {entries: {type: array, maxItems: 1000, items: {$ref: "#/components/schemas/EntryInput"}}}}}}}
      responses:
        "200": {description: How many were set, content: {application/json: {schema: {type: object, properties: {count: {type: integer}}}}}}
        "400": {$ref: "#/components/responses/Error"}
  /api/v1/kv/batch/delete:
    post:
      summary: Delete many keys.
      requestBody: {required: true, content: {application/json: {schema: {type: object, required: [keys], properties: {keys: {type: array, maxItems: 1000, items: {type: string}}}}}}}
      responses:
        "200": {description: How many existed and were deleted, content: {application/json: {schema: {type: object, properties: {deleted: {type: integer}}}}}}
        "400": {$ref: "#/components/responses/Error"}
  /api/v1/kv/cas:
    post:
      summary: Set key to value only if it now holds expected (null or missing expected means absent).
      requestBody: {required: true, content: {application/json: {schema: {type: object, required: [key, value], properties: {key: {type: string}, expected: {}, value: {}, ttl: {type: integer, nullable: true}}}}}}
      responses:
        "200": {description: Swapped, content: {application/json: {schema: {type: object, properties: {success: {type: boolean}, key: {type: string}, entry: {$ref: "#/components/schemas/Entry"}}}}}}
        "409": {description: The key holds something else, content: {application/json: {schema: {type: object, properties: {success: {type: boolean}, key: {type: string}, current: {}}}}}}
  /api/v1/kv/txn:
    post:
      summary: On a sharded cluster, several keys read and written as one serializable transaction (two-phase commit across shards), all or nothing; operations apply in order, each seeing the ones before (404 not_sharded otherwise).
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [operations]
              properties:
                operations:
                  type: array
                  maxItems: 127
                  items:
                    type: object
                    required: [op, key]
                    properties:
                      op: {type: string, enum: [get, put, delete, expect, add]}
                      key: {type: string}
                      value: {description: "put - the value to store; expect - the value the key must hold (null - absent)"}
                      ttl: {type: integer, nullable: true, description: put only}
                      delta: {type: integer, description: "add - added to the key's whole-number value (absent is 0)"}
                      min: {type: integer, nullable: true, description: "add - the transaction fails if the result would be below this"}
      responses:
        "200": {description: Committed, content: {application/json: {schema: {type: object, properties: {success: {type: boolean}, reads: {type: array, items: {type: object, properties: {key: {type: string}, value: {}}}}}}}}}
        "409": {description: An expect or an add's min did not hold; nothing was written, content: {application/json: {schema: {type: object, properties: {success: {type: boolean}, code: {type: string}, error: {type: string}, key: {type: string}, current: {}}}}}}
        "404": {$ref: "#/components/responses/Error"}
  /api/v1/cluster/info:
    get:
      summary: This node's view of the cluster.
      responses:
        "200": {description: Cluster info, content: {application/json: {schema: {$ref: "#/components/schemas/ClusterInfo"}}}}
  /api/v1/cluster/peers:
    get:
      summary: The other nodes this node knows, with their addresses and roles.
      responses:
        "200": {description: Peers, content: {application/json: {schema: {type: object, properties: {node_id: {type: integer}, peers: {type: array, items: {$ref: "#/components/schemas/Peer"}}}}}}}
  /api/v1/cluster/shards:
    get:
      summary: The sharded store as this node sees it - its copy of the shard map, each shard's range, replicas and leader (404 not_sharded on a node started without --shards).
      responses:
        "200": {description: Shards, content: {application/json: {schema: {$ref: "#/components/schemas/ShardMap"}}}}
        "404": {$ref: "#/components/responses/Error"}
  /api/v1/cluster/nodes/{id}/decommission:
    post:
      summary: On a sharded cluster, drain a node - the placement driver moves every shard replica off it (watch /api/v1/cluster/shards); 404 not_sharded otherwise.
      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
      responses:
        "200": {description: Accepted; the moves happen in the background, content: {application/json: {schema: {type: object, properties: {success: {type: boolean}, node_id: {type: integer}, draining: {type: boolean}, message: {type: string}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
  /api/v1/cluster/nodes/{id}/recommission:
    post:
      summary: On a sharded cluster, let a decommissioned node take shard replicas again.
      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
      responses:
        "200": {description: Accepted, content: {application/json: {schema: {type: object, properties: {success: {type: boolean}, node_id: {type: integer}, draining: {type: boolean}, message: {type: string}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
  /api/v1/cluster/members:
    post:
      summary: Add a node (started with --join) as a learner and promote it to voter, through Raft.
      requestBody: {required: true, content: {application/json: {schema: {type: object, required: [id], properties: {id: {type: integer}, address: {type: string, description: "its peer address HOST:PORT"}}}}}}
      responses:
        "200": {description: Added, content: {application/json: {schema: {type: object, properties: {success: {type: boolean}, id: {type: integer}, role: {type: string}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "503": {$ref: "#/components/responses/Error"}
  /api/v1/cluster/members/{id}:
    delete:
      summary: Remove a node from the cluster, through Raft.
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
      responses:
        "200": {description: Removed, content: {application/json: {schema: {type: object, properties: {success: {type: boolean}, id: {type: integer}}}}}}
        "400": {$ref: "#/components/responses/Error"}
  /api/v1/metrics:
    get:
      summary: Raft, request and transport metrics as JSON.
      responses:
        "200": {description: Metrics, content: {application/json: {schema: {type: object, additionalProperties: {type: number}}}}}
  /metrics:
    get:
      summary: Request, Raft, disk and error metrics in Prometheus's text format (built with the Monitoring trait).
      responses:
        "200": {description: Metrics, content: {text/plain: {schema: {type: string}}}}
        "404": {$ref: "#/components/responses/Error"}
  /api/v1/query:
    post:
      summary: Run SQL (one or more statements separated by ';'; the answer is the last one's). Reads are served by the leader; writes go through the Raft log.
      parameters: [{$ref: "#/components/parameters/RequestId"}]
      requestBody: {required: true, content: {application/json: {schema: {$ref: "#/components/schemas/QueryInput"}}}}
      responses:
        "200": {description: The result, content: {application/json: {schema: {$ref: "#/components/schemas/QueryAnswer"}}}}
        "400": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
  /api/v1/prepare:
    post:
      summary: Check a statement and keep it on this node under an id.
      requestBody: {required: true, content: {application/json: {schema: {type: object, required: [sql], properties: {sql: {type: string}}}}}}
      responses:
        "200": {description: Prepared, content: {application/json: {schema: {type: object, properties: {success: {type: boolean}, statement_id: {type: string}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "429": {$ref: "#/components/responses/Error"}
  /api/v1/prepared/execute:
    post:
      summary: Run a prepared statement with parameters.
      parameters: [{$ref: "#/components/parameters/RequestId"}]
      requestBody: {required: true, content: {application/json: {schema: {type: object, required: [statement_id], properties: {statement_id: {type: string}, params: {type: array, items: {}}}}}}}
      responses:
        "200": {description: The result, content: {application/json: {schema: {$ref: "#/components/schemas/QueryAnswer"}}}}
        "400": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
  /api/v1/prepared/{id}:
    delete:
      summary: Forget a prepared statement.
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses:
        "200": {description: Forgotten, content: {application/json: {schema: {type: object, properties: {success: {type: boolean}, statement_id: {type: string}}}}}}
        "404": {$ref: "#/components/responses/Error"}
  /api/v1/tables:
    get:
      summary: Every SQL table with its columns, primary key and indexes (this node's applied schema).
      responses:
        "200": {description: Tables, content: {application/json: {schema: {type: object, properties: {success: {type: boolean}, tables: {type: array, items: {$ref: "#/components/schemas/Table"}}}}}}}
  /api/v1/tables/{name}:
    get:
      summary: One table, with its row count.
      parameters: [{name: name, in: path, required: true, schema: {type: string}}]
      responses:
        "200": {description: The table, content: {application/json: {schema: {type: object, properties: {success: {type: boolean}, table: {$ref: "#/components/schemas/Table"}}}}}}
        "404": {$ref: "#/components/responses/Error"}
  /api/v1/openapi.yaml:
    get:
      summary: This document.
      responses:
        "200": {description: The OpenAPI document, content: {application/yaml: {schema: {type: string}}}}
components:
  parameters:
    RequestId:
      name: X-Aegis-Request-Id
      in: header
      required: false
      schema: {type: string, pattern: "^[1-9][0-9]*-[1-9][0-9]*$"}
      description: CLIENT-SEQUENCE; a retry with the same id is applied at most once.
    Consistency:
      name: consistency
      in: query
      required: false
      schema: {type: string, enum: [linearizable, local], default: linearizable}
      description: linearizable confirms with the leader; local answers from this node's applied state (fast, may be stale).
  responses:
    Error:
      description: An error, one sentence with what to do.
      content: {application/json: {schema: {$ref: "#/components/schemas/Error"}}}
  schemas:
    Health:
      type: object
      properties: {status: {type: string}, version: {type: string}}
    Error:
      type: object
      required: [success, error, code]
      properties:
        success: {type: boolean}
        error: {type: string}
        code: {type: string, description: "stable: invalid_json, invalid_key, invalid_ttl, key_too_large, value_too_large, body_too_large, not_found, unknown_route, method_not_allowed, bad_request, contention, not_ready, not_caught_up, monitoring_disabled, timeout, outcome_unknown, busy, node_stopped, internal, sql_syntax, sql_name, sql_type, sql_constraint, sql_limit, sql_runtime, sql_conflict, sql_storage, sql_too_large, invalid_database, too_many_prepared"}
    QueryInput:
      type: object
      required: [sql]
      properties:
        sql: {type: string}
        params: {type: array, items: {}, description: "values for $1, $2, …: numbers, strings, booleans (1 and 0) or null"}
        database: {type: string, enum: [default]}
    QueryAnswer:
      type: object
      properties:
        success: {type: boolean}
        data:
          type: object
          properties:
            columns: {type: array, items: {type: string}}
            rows: {type: array, items: {type: array, items: {}}}
            rows_affected: {type: integer}
        execution_time_ms: {type: number}
    Table:
      type: object
      properties:
        name: {type: string}
        columns: {type: array, items: {type: object, properties: {name: {type: string}, type: {type: string}, not_null: {type: boolean}, primary_key: {type: boolean}, default: {type: string, nullable: true}}}}
        primary_key: {type: array, items: {type: string}}
        indexes: {type: array, items: {type: object, properties: {name: {type: string}, unique: {type: boolean}, columns: {type: array, items: {type: string}}}}}
        row_count: {type: integer}
    EntryInput:
      type: object
      required: [key, value]
      properties: {key: {type: string, maxLength: 4096}, value: {}, ttl: {type: integer, nullable: true, minimum: 1}}
    Entry:
      type: object
      properties:
        key: {type: string}
        value: {}
        ttl: {type: integer, nullable: true}
        created_at: {type: string, format: date-time}
        updated_at: {type: string, format: date-time}
    Peer:
      type: object
      properties: {id: {type: integer}, role: {type: string}, peer_address: {type: string, nullable: true}, http_address: {type: string, nullable: true}, leader: {type: boolean}}
    ClusterInfo:
      type: object
      properties:
        node_id: {type: integer}
        role: {type: string}
        term: {type: integer}
        leader_id: {type: integer, nullable: true}
        leader_address: {type: string, nullable: true}
        commit_index: {type: integer}
        applied_index: {type: integer}
        last_index: {type: integer}
        voters: {type: array, items: {type: integer}}
        learners: {type: array, items: {type: integer}}
        keys: {type: integer}
        version: {type: string}
        cluster: {type: string}
        http_address: {type: string}
        peer_address: {type: string}
    ShardMap:
      type: object
      properties:
        node_id: {type: integer}
        map_version: {type: integer}
        nodes: {type: array, items: {type: integer}}
        decommissioning: {type: array, items: {type: integer}}
        shards:
          type: array
          items:
            type: object
            properties:
              id: {type: integer}
              role: {type: string, description: "meta (the shard-map group, which holds no user keys) or data"}
              generation: {type: integer}
              range: {type: object, properties: {start: {type: string}, end: {type: string, nullable: true, description: "exclusive; null is the end of the key space"}}}
              replicas: {type: array, items: {type: integer}}
              learners: {type: array, items: {type: integer}}
              leader_id: {type: integer, nullable: true}
              hosted_here: {type: boolean}
              keys: {type: integer, nullable: true, description: "keys in this node's replica; null when not hosted here or for the meta group"}
        transactions: {type: object, properties: {committed: {type: integer}, aborted: {type: integer}, reruns: {type: integer}}}
        stopped_reason: {type: string, nullable: true}
"""#
}
