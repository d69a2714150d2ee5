-- 009: bulk decisions larger than one control request. The reviewer's
-- client sends them in chunks, each checked for shape and kept here, then
-- commits the batch, which applies every decision in one transaction:
-- all or none (reviews/batch.c). A batch lives at most an hour and is
-- deleted when it is committed, whatever the outcome.
CREATE TABLE review_batches (
	id         INTEGER PRIMARY KEY,
	reviewer   TEXT    NOT NULL,           -- who sent it; only they may add or commit
	created_at INTEGER NOT NULL,           -- UTC seconds
	decisions  INTEGER NOT NULL DEFAULT 0  -- how many, over all chunks
);
CREATE TABLE review_batch_chunks (
	batch_id  INTEGER NOT NULL REFERENCES review_batches (id) ON DELETE CASCADE,
	seq       INTEGER NOT NULL,            -- order of arrival
	decisions TEXT    NOT NULL,            -- a JSON array, as checked when it arrived
	PRIMARY KEY (batch_id, seq)
);
