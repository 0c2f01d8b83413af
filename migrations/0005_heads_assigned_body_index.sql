-- Which head pins a body: asked for every node that becomes a head (the
-- start-up reconciliation of head roles asks it once per such node) and on
-- every role change; without an index each question scans every head, so a
-- first start with tens of thousands of head-role nodes took seconds.
CREATE INDEX heads_assigned_body ON heads (assigned_body_id);
