-- 018: what a page of a reviewer's list costs (review.page, idgov-web's
-- "My reviews"). Before, each page view counted every item of the reviewer
-- (the progress bar, the pager) and sorted them all to cut its window, so
-- a view cost the reviewer's whole list: about 10 ms for 5,000 items, in
-- idgovd's one answering thread.
--
-- review_counts holds, per reviewer and campaign, how many items there
-- are, how many are decided, how many are privileged and how many of
-- those are decided. Triggers keep it in the same transaction as every
-- write to review_items (a campaign opening, a decision, a delegation, a
-- default at the deadline, an edit by hand), whoever makes it: idgovd,
-- the CLI in-process, a test. So the counts are never stale, and the page
-- reads them in one row per campaign. An item without a reviewer
-- (nobody eligible) is in no row. Rows are never removed; a row whose
-- counts fell to zero means nothing.
--
-- Invariant: for every (reviewer, campaign_id), the row's counts equal
-- the aggregate of review_items over the same key (checked by the unit
-- tests after decisions, delegations and edits). A later migration that
-- rebuilds review_items (a copy and a rename, as 013 did) drops these
-- triggers and the index with the old table: it must create them again.
CREATE TABLE review_counts (
	reviewer           TEXT NOT NULL,
	campaign_id        INTEGER NOT NULL,
	items              INTEGER NOT NULL DEFAULT 0,
	decided            INTEGER NOT NULL DEFAULT 0,
	privileged         INTEGER NOT NULL DEFAULT 0,
	privileged_decided INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (reviewer, campaign_id)
) WITHOUT ROWID;

INSERT INTO review_counts (reviewer, campaign_id, items, decided, privileged, privileged_decided)
SELECT reviewer, campaign_id, count(*), count(decision), sum(privileged != 0),
       sum(privileged != 0 AND decision IS NOT NULL)
FROM review_items WHERE reviewer IS NOT NULL GROUP BY reviewer, campaign_id;

CREATE TRIGGER review_counts_insert AFTER INSERT ON review_items
WHEN NEW.reviewer IS NOT NULL
BEGIN
	INSERT INTO review_counts (reviewer, campaign_id, items, decided, privileged,
				   privileged_decided)
	VALUES (NEW.reviewer, NEW.campaign_id, 1, NEW.decision IS NOT NULL, NEW.privileged != 0,
		NEW.privileged != 0 AND NEW.decision IS NOT NULL)
	ON CONFLICT (reviewer, campaign_id) DO UPDATE SET
		items = items + 1,
		decided = decided + excluded.decided,
		privileged = privileged + excluded.privileged,
		privileged_decided = privileged_decided + excluded.privileged_decided;
END;

CREATE TRIGGER review_counts_delete AFTER DELETE ON review_items
WHEN OLD.reviewer IS NOT NULL
BEGIN
	UPDATE review_counts SET
		items = items - 1,
		decided = decided - (OLD.decision IS NOT NULL),
		privileged = privileged - (OLD.privileged != 0),
		privileged_decided = privileged_decided -
				     (OLD.privileged != 0 AND OLD.decision IS NOT NULL)
	WHERE reviewer = OLD.reviewer AND campaign_id = OLD.campaign_id;
END;

-- An update is the old row taken out and the new one put in: two triggers,
-- since a trigger's WHEN covers the whole body and either side may have no
-- reviewer.
CREATE TRIGGER review_counts_update_old AFTER UPDATE OF reviewer, campaign_id, decision,
	privileged ON review_items
WHEN OLD.reviewer IS NOT NULL
BEGIN
	UPDATE review_counts SET
		items = items - 1,
		decided = decided - (OLD.decision IS NOT NULL),
		privileged = privileged - (OLD.privileged != 0),
		privileged_decided = privileged_decided -
				     (OLD.privileged != 0 AND OLD.decision IS NOT NULL)
	WHERE reviewer = OLD.reviewer AND campaign_id = OLD.campaign_id;
END;

CREATE TRIGGER review_counts_update_new AFTER UPDATE OF reviewer, campaign_id, decision,
	privileged ON review_items
WHEN NEW.reviewer IS NOT NULL
BEGIN
	INSERT INTO review_counts (reviewer, campaign_id, items, decided, privileged,
				   privileged_decided)
	VALUES (NEW.reviewer, NEW.campaign_id, 1, NEW.decision IS NOT NULL, NEW.privileged != 0,
		NEW.privileged != 0 AND NEW.decision IS NOT NULL)
	ON CONFLICT (reviewer, campaign_id) DO UPDATE SET
		items = items + 1,
		decided = decided + excluded.decided,
		privileged = privileged + excluded.privileged,
		privileged_decided = privileged_decided + excluded.privileged_decided;
END;

-- The page's order (undecided first, then by item number) straight from an
-- index: a window is a walk of offset + limit entries, never a sort of the
-- reviewer's whole list. The expression must stay spelled as page.c's
-- ORDER BY spells it for the planner to match them.
CREATE INDEX review_items_page ON review_items (reviewer, (decision IS NOT NULL), id);
