-- The flow a proof was sent in (app/selfserve Flow.ID): a second tap on a
-- code method within a few seconds gets the flow's proof, not a second code.
ALTER TABLE selfserve_proofs ADD COLUMN flow_id TEXT NOT NULL DEFAULT '';
