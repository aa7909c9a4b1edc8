-- Agents: service accounts of one workspace. An agent is a user record with
-- `agent_workspace_id` set (and a membership there giving its role); it has
-- no usable password and can never sign in. `created_by` is the member who
-- made it (agents outlive them). Both are NULL for people.
ALTER TABLE users
    ADD COLUMN agent_workspace_id TEXT COLLATE "C" REFERENCES workspaces (id),
    ADD COLUMN created_by TEXT COLLATE "C";

CREATE INDEX users_by_agent_workspace ON users (agent_workspace_id, id);
