-- Solutions of RoutingJobs (and of `logistica solve --routingjob` runs).
CREATE TABLE routing_results (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace              text        NOT NULL,
    name                   text        NOT NULL,
    uid                    text        NOT NULL,
    generation             bigint      NOT NULL DEFAULT 0,
    partial                boolean     NOT NULL,
    total_distance_meters  double precision NOT NULL,
    total_duration_seconds double precision NOT NULL,
    objective              double precision NOT NULL,
    solution               jsonb       NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX routing_results_job_idx ON routing_results (namespace, name, created_at DESC);
