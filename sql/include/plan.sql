-- EXPLAIN without what PostgreSQL's own text changes between versions (18:
-- "Disabled: true", buffers by default, rows=N.00; 17: how a hashed
-- subplan is shown), so that one expected output serves 15, 17 and 18
CREATE FUNCTION pg_temp.plan(options_and_query text) RETURNS TABLE ("QUERY PLAN" text)
LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN ' || options_and_query LOOP
        CONTINUE WHEN line ~ '^\s*(Disabled: true|Buffers: .*|Planning:)$';
        line := regexp_replace(line, 'rows=(\d+)\.00 ', 'rows=\1 ', 'g');
        line := regexp_replace(line, '\(ANY \(\w+ = \((hashed SubPlan \d+)\)\.col\d+\)\)', '(\1)', 'g');
        "QUERY PLAN" := line;
        RETURN NEXT;
    END LOOP;
END $$;
