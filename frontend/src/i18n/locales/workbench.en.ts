// English strings of the workbench's live parts: stored attachments, the routing decision,
// click-to-call, the test notification. workbench.zh-CN.ts has exactly the same keys (a unit
// test checks it). Merged deeply into the main catalogue's `workbench`. vue-i18n syntax:
// {name} interpolates; never a literal at-sign, pipe or brace.
const workbenchEn = {
  workbench: {
    files: {
      download: 'Download', preview: 'Preview', hidePreview: 'Hide preview',
      notStored: 'This file was not kept, so it cannot be downloaded.',
      missing: 'The file is no longer stored.',
      notFound: 'The file was not found, or you may no longer read this conversation.',
      forbidden: 'Your role may not download the files of this conversation.',
      failed: 'The file could not be downloaded: {message}',
    },
    routing: {
      show: 'Why this priority and team?', title: 'Routing decision', loading: 'Loading the decision…',
      none: 'No priority rule was evaluated for this conversation: it was routed normally.',
      outcomes: {
        matched: 'Rule “{rule}” matched', no_match: 'No rule matched: routed normally',
        failed: 'Connected systems unavailable → routed normally',
      },
      reason: 'Reason', team: 'Team', priority: 'Priority', skills: 'Skills', noSkills: 'none',
      checks: 'Rules tried', latency: 'Decided in {ms} ms, {time}',
      results: {
        matched: 'Matched', no_match: 'No match', failed: 'Lookup failed',
        not_applicable: 'Not applicable', skipped: 'Skipped',
      },
      error: 'The routing decision could not be read: {message}',
    },
    dial: {
      call: 'Call', noPhone: 'The customer has no phone number',
      ok: 'Calling {number}: your phone (seat {seat}) rings first.',
      refused: 'The call centre did not place the call: {message}',
      kinds: {
        config: 'Set-up problem (ask an administrator)', transient: 'Temporary problem: try again later',
        system: 'The call centre answered wrongly',
      },
      codes: {
        no_number: 'The customer has no phone number to call.',
        no_voice_inbox: 'Click-to-call needs a voice inbox: none is enabled.',
        no_seat: 'No call-centre seat is set up for you.',
        dial_not_configured: 'Click-to-call is not set up for the voice inbox.',
        no_agent: 'Click-to-call needs a signed-in agent and the conversation’s customer.',
        forbidden: 'Your role may not place calls.',
      },
      failed: 'The call could not be placed: {message}',
    },
    notifications: {
      test: 'Send a test notification', testSent: 'Test notification sent',
      testFailed: 'The test notification could not be sent: {message}',
    },
  },
}

export default workbenchEn
