-- The weights of the assessment league table (考核排名, docs/assessment.md): one row per indicator, read by
-- layers/assessment.py at every ranking, so a city changes them without code (`shiyu rank weights --set
-- on_time_rate=0.4`, audited). An indicator's meaning, direction and label are declared once in the code
-- (layers/assessment.INDICATORS); this table holds only how much each counts. A weight of 0 shows the
-- indicator without scoring it. The scores divide by the sum of the weights an area has values for, so the
-- weights need not add up to 1.
CREATE TABLE shiyu.assessment_weight (
    indicator   text PRIMARY KEY CHECK (indicator ~ '^[a-z_0-9]{1,40}$'),
    weight      numeric NOT NULL CHECK (weight >= 0 AND weight <= 100),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text NOT NULL DEFAULT 'default'
);
INSERT INTO shiyu.assessment_weight (indicator, weight) VALUES
    ('reports', 0),                 -- 上报数: shown, not scored (volume is not performance)
    ('closure_rate', 0.20),         -- 结案率
    ('on_time_rate', 0.30),         -- 按期结案率
    ('overdue_per_1000', 0.15),     -- 超期数 per 1,000 reports
    ('median_hours', 0.10),         -- 结案用时中位数
    ('patrol_coverage', 0.15),      -- 巡查覆盖率
    ('orders', 0),                  -- 收到督办数: shown, not scored (it follows the size of the area)
    ('orders_on_time_rate', 0.10);  -- 督办按时回复率

-- City-wide settings, not rows of an area: the app reads them whoever asks, and only the owner (the shiyu
-- command) changes them.
GRANT SELECT ON shiyu.assessment_weight TO shiyu_app;
