ALTER TABLE "tidemark"."tidemark_generations" ADD COLUMN "fence" BIGINT;
