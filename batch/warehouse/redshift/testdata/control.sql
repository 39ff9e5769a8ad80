CREATE TABLE IF NOT EXISTS "tidemark"."tidemark_generations" ("generation" BIGINT NOT NULL, "cut" VARCHAR(1024), "gtid" VARCHAR(65535), "cut_time" TIMESTAMPTZ, "loaded_at" TIMESTAMPTZ, "rows" VARCHAR(65535), "fence" BIGINT);
SELECT "generation", "cut", "gtid", CAST("cut_time" AS VARCHAR), CAST("loaded_at" AS VARCHAR), "rows", (SELECT MAX("fence") FROM "tidemark"."tidemark_generations") FROM "tidemark"."tidemark_generations" ORDER BY "generation" DESC LIMIT 1;
UPDATE "tidemark"."tidemark_generations" SET "fence" = 13 WHERE "generation" = 7;
