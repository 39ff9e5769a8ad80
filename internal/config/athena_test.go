package config

import (
	"strings"
	"testing"
	"time"
)

// s3Good is the good config on an S3 lake with the Glue sync on.
var s3Good = strings.Replace(good, "lake:\n  root: file:///tmp/lake\n", `lake:
  root: s3://bucket/tm
  s3: {region: eu-west-1, access_key_id: AKIDLAKE, secret_access_key: lakesecret}
athena:
  database: shop_lake
  glue:
    sync: true
`, 1)

func TestAthenaDefaultsAndFallbacks(t *testing.T) {
	c, err := Parse([]byte(good), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Athena.Database != "tidemark" || c.Athena.Glue.Sync || c.Athena.Glue.Timeout != time.Minute {
		t.Errorf("defaults: %+v", c.Athena)
	}
	c, err = Parse([]byte(s3Good), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Athena.Glue.Sync || c.Athena.Database != "shop_lake" {
		t.Errorf("athena: %+v", c.Athena)
	}
	// Without keys of its own, the sync uses the lake's keys and region.
	if ak, sk := c.GlueCredentials(); ak != "AKIDLAKE" || sk != "lakesecret" || c.GlueRegion() != "eu-west-1" {
		t.Errorf("fallbacks: %s %s %s", ak, sk, c.GlueRegion())
	}
	c, err = Parse([]byte(s3Good), []string{
		"TIDEMARK_ATHENA_GLUE_ACCESS_KEY_ID=AKIDGLUE", "TIDEMARK_ATHENA_GLUE_SECRET_ACCESS_KEY=gluesecret",
		"TIDEMARK_ATHENA_GLUE_REGION=us-west-2", "TIDEMARK_ATHENA_GLUE_TIMEOUT=20s",
	})
	if err != nil {
		t.Fatal(err)
	}
	if ak, sk := c.GlueCredentials(); ak != "AKIDGLUE" || sk != "gluesecret" || c.GlueRegion() != "us-west-2" || c.Athena.Glue.Timeout != 20*time.Second {
		t.Errorf("own keys: %s %s %s %s", ak, sk, c.GlueRegion(), c.Athena.Glue.Timeout)
	}
	if c.Athena.Glue.SecretAccessKey.String() != "********" {
		t.Error("the Glue secret prints")
	}
}

func TestAthenaBad(t *testing.T) {
	cases := []struct{ name, from, to, want string }{
		{"sync on a file lake", "  root: s3://bucket/tm\n", "  root: file:///tmp/lake\n", `athena.glue.sync: Glue tables point Athena at S3, but lake.root is "file:///tmp/lake"`},
		{"bad database", "  database: shop_lake\n", "  database: Shop-Lake\n", `athena.database: "Shop-Lake": want lower case letters`},
		{"unknown key", "    sync: true\n", "    sync: true\n    regoin: x\n", `athena.glue.regoin (line 20): unknown key (did you mean "region"?)`},
		{"bad endpoint", "    sync: true\n", "    sync: true\n    endpoint: 127.0.0.1:9\n", `athena.glue.endpoint: "127.0.0.1:9": want a URL`},
		{"half a key pair", "    sync: true\n", "    sync: true\n    access_key_id: AKID\n", "athena.glue: set access_key_id and secret_access_key together"},
		{"bad catalog", "    sync: true\n", "    sync: true\n    catalog_id: me\n", `athena.glue.catalog_id: "me": want a 12-digit AWS account id`},
		{"bad timeout", "    sync: true\n", "    sync: true\n    timeout: 0s\n", "athena.glue.timeout: 0s: must be positive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(s3Good, tc.from) {
				t.Fatalf("test edit %q does not apply", tc.from)
			}
			_, err := Parse([]byte(strings.Replace(s3Good, tc.from, tc.to, 1)), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v does not contain %q", err, tc.want)
			}
		})
	}
}
