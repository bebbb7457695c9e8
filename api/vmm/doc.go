// Package vmm holds the wire types of deskhub's infrastructure surface, the JSON:API interface of the
// ui-vmm seed (POST /api/v1/<resource>.<action>): one request type per endpoint whose body has members,
// and the attribute types of the resources answered (wrapped in jsonapi.One / jsonapi.Many).
//
// Member names follow the seed exactly (snake_case, including its user_passwordRepeat). Members the
// seed marks required carry `required:"true"`; checks beyond presence and type live in each request's
// Validate method. Every member carries a one-line `doc:"…"` description for the OpenAPI document.
// Times are RFC 3339 strings, except the Unix seconds of the members ui-vmm's panel reads.
//
// Where the seed is silent, the members follow ui-vmm's panel (docs/compat-infra.md, "ui-vmm's
// panel"), beside deskhub's own: ids and counts of requests are FlexInt (a number or a numeric string),
// lists StringList (an array or a comma-separated string); lists the panel splits are answered as
// CommaList (a comma-separated string). Wire types only: nothing here imports deskhub's internals.
package vmm
