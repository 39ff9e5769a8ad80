// Package config is Tidemark's one configuration file: a typed struct read
// from YAML, overridden by TIDEMARK_* environment variables, filled with
// defaults and validated once at start-up.
//
// Nothing reads configuration by string key later: every component receives
// the typed section it needs. Every error names the dotted path of the
// offending key (views[2].group_by[0], sources[0].server_id) and says how to
// fix it. Unknown keys, in the file or in the environment, are errors: a
// misspelt key silently ignored is a production incident waiting to happen.
package config
