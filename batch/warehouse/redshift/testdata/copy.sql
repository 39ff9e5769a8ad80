COPY "tidemark_gen"."t_shop_alltypes_g7" FROM 's3://lake/tm/_warehouse/rs/gen=7/shop_alltypes.manifest' IAM_ROLE 'arn:aws:iam::123456789012:role/tidemark-copy' FORMAT AS PARQUET MANIFEST;
SELECT CAST(CASE WHEN COUNT(*) <> 42 THEN 'tidemark: t_shop_alltypes_g7 holds another row count than the generation manifest''s 42' ELSE '0' END AS INTEGER) FROM "tidemark_gen"."t_shop_alltypes_g7";
