LOCK "tidemark"."tidemark_generations";
SELECT CAST(CASE WHEN MAX("generation") >= 7 THEN 'tidemark: the target holds generation 7 or a newer one' WHEN MAX("fence") > 12 THEN 'tidemark: fencing token 12 is superseded' ELSE '0' END AS INTEGER) FROM "tidemark"."tidemark_generations";
DROP VIEW IF EXISTS "tidemark"."shop_alltypes", "tidemark"."revenue_by_day", "tidemark"."shop_dropped";
CREATE VIEW "tidemark"."shop_alltypes" AS SELECT "id", "ti", "js" FROM "tidemark_gen"."t_shop_alltypes_g7" WITH NO SCHEMA BINDING;
CREATE VIEW "tidemark"."revenue_by_day" AS SELECT "day", "status", "orders" FROM "tidemark_gen"."t_revenue_by_day_g7" WITH NO SCHEMA BINDING;
INSERT INTO "tidemark"."tidemark_generations" ("generation", "cut", "gtid", "cut_time", "loaded_at", "rows", "fence") VALUES (7, 'mariadb-bin.000042:1337:0@0-1-99', '0-1-99', CAST('2026-12-07 22:00:00.5+00' AS TIMESTAMPTZ), CAST('2026-12-07 22:01:02.000003+00' AS TIMESTAMPTZ), '{"revenue_by_day":3,"shop_alltypes":42}', 12);
