// The spec editor's problem-to-line logic: server lines are kept, problems without a line are
// placed by their field path, offsets cover the line's text, errors of a save are read.
import { describe, expect, it } from 'vitest'

import { actionNames, lineOfPath, pathKeys, placeProblem, placeProblems, problemsOfError } from './specProblems'

const SPEC = [
  'apiVersion: relaydesk.io/v1', //  1
  'kind: http', //                    2
  'name: parcels', //                 3
  'http: {base_url: "https://x.example.com"}', // 4
  'actions:', //                      5
  '  track:', //                      6
  '    effect: raed', //              7
  '    request:', //                  8
  '      path: /p', //                9
  '  cancel:', //                    10
  '    effect: write', //            11
  '    request: {path: /c, method: POST}', // 12
  '',
].join('\n')

describe('placeProblem', () => {
  it('keeps the line the server reports and spans its text', () => {
    const p = placeProblem(SPEC, { line: 7, path: 'actions.track.effect', message: "Input should be 'read' or 'write'" })
    expect(p.line).toBe(7)
    expect(SPEC.slice(p.from, p.to)).toBe('effect: raed')
    expect(p.message).toContain('read')
  })

  it('places a problem without a line by its field path', () => {
    expect(placeProblem(SPEC, { line: null, path: 'actions.track.request.path', message: 'x' }).line).toBe(9)
    expect(placeProblem(SPEC, { path: 'actions.cancel.effect', message: 'x' }).line).toBe(11)
    // a key that does not exist: the deepest parent that does
    expect(placeProblem(SPEC, { path: 'actions.cancel.params', message: 'x' }).line).toBe(10)
    // nothing matches: the first line
    expect(placeProblem(SPEC, { path: 'nope', message: 'x' }).line).toBe(1)
    expect(placeProblem(SPEC, { path: '', message: 'invalid YAML' }).line).toBe(1)
  })

  it('does not take a key of another block for the path', () => {
    // "effect" under cancel, not the first "effect" (under track)
    expect(lineOfPath(SPEC, 'actions.cancel.effect')).toBe(11)
    // "path" of track is on line 9, even though cancel also has a path (inline)
    expect(lineOfPath(SPEC, 'actions.track.request.path')).toBe(9)
    expect(pathKeys('actions.a.params[0].name')).toEqual(['actions', 'a', 'params', 'name'])
  })

  it('clamps lines past the end of the document', () => {
    const p = placeProblem('a: 1\nb: 2', { line: 40, path: '', message: 'x' })
    expect(p.line).toBe(2)
  })

  it('sorts problems by line', () => {
    const placed = placeProblems(SPEC, [
      { line: 9, path: 'actions.track.request.path', message: 'b' },
      { line: 3, path: 'name', message: 'a' },
    ])
    expect(placed.map((p) => p.line)).toEqual([3, 9])
  })
})

describe('problemsOfError', () => {
  it('reads the problems of a 422 spec_invalid', () => {
    const details = [{ file: 'spec', line: 7, path: 'actions.track.effect', message: 'bad' }, { loc: ['body'] }]
    expect(problemsOfError(details)).toEqual([details[0]])
    expect(problemsOfError(null)).toEqual([])
  })
})

describe('actionNames', () => {
  it('lists the keys under actions:', () => {
    expect(actionNames(SPEC)).toEqual(['track', 'cancel'])
    expect(actionNames('name: x\n')).toEqual([])
  })
})
