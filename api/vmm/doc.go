// Package vmm holds the wire types of deskhub's infrastructure surface, the JSON:API interface of the
// ui-vmm seed (POST /api/v1/<resource>.<action>): one request type per endpoint whose body has members,
// and the attribute types of the resources answered (wrapped in jsonapi.One / jsonapi.Many).
//
// Member names follow the seed exactly (snake_case, including its user_passwordRepeat). Members the
// seed marks required carry `required:"true"`; checks beyond presence and type live in each request's
// Validate method. Every member carries a one-line `doc:"…"` description for the OpenAPI document.
// Times are RFC 3339 strings. Wire types only: nothing here imports deskhub's internals.
package vmm
