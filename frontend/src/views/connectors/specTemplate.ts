// The starting point of a new connector spec (valid as it is; see docs/connectors.md).
export const SPEC_TEMPLATE = `apiVersion: relaydesk.io/v1
kind: http
name: parcels
title: Parcel tracking
config:
  base_url: {type: string, required: true, title: Base URL}
  token: {type: string, required: true, secret: true, title: API token}
http:
  base_url: "{{ config.base_url }}"
auth: {type: bearer, token: "{{ config.token }}"}
actions:
  track_parcel:
    title: Track a parcel
    effect: read
    params:
      parcel_no: {type: string, required: true}
    request:
      method: GET
      path: "/parcels/{{ params.parcel_no }}"
    mapping:
      fields:
        tracking_no: {expr: number, type: string, required: true}
        status: {expr: status, type: string}
`

export const SAMPLE_PAYLOAD = `{
  "number": "SF1234567890",
  "status": "IN_TRANSIT"
}`
