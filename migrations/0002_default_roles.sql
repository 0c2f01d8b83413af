-- 0002: the runbooks' roles exist on a fresh server. The default catalog is
-- seeded here, once: a migration runs once per database, so a role an admin
-- deletes later is never added back. A database that already has one of
-- these roles (for example from a nodes.yaml import) keeps its own.
INSERT OR IGNORE INTO roles (name, description) VALUES
    ('render-node', 'Body: LarkXR standalone render node (Sunshine) that heads stream from'),
    ('hydraguard-air', 'Network guard: WireGuard tunnel to the control plane'),
    ('hydraheadflatscreen', 'Head: macOS kiosk (flat screen) that streams from a body'),
    ('hydraheadwindows', 'Head: Windows kiosk that streams from a body'),
    ('hydraheadipad', 'Head: iPad app that streams from a body');

-- Also in this step (one number for this change, meeting the deployed
-- clients): whether the node's agent
-- has ever acknowledged flags (flags_ack). Agents deployed before the
-- acknowledgement existed never send one: their flags are delivered once.
ALTER TABLE nodes ADD COLUMN flags_acked INTEGER NOT NULL DEFAULT 0;

-- And the body a kiosk head chose itself (through GET /api/v1/bodies/eligible)
-- and reported in PUT /api/v1/heads/{id}; an admin's pin (assigned_body_id)
-- still wins over it.
ALTER TABLE heads ADD COLUMN reported_body_id TEXT;
