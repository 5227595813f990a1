DROP INDEX pledges_titles_idx;
CREATE INDEX pledges_titles_idx ON pledges (organization_path)
    INCLUDE (organization_id, campaign_id, year, status, result, title_name, title)
    WHERE kind = 'title';
