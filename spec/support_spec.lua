-- Small supervisor-side modules: purple.files, purple.cli.usage, purple.status.
local H = require "spec_helper"
local files = require "purple.files"
local usage = require "purple.cli.usage"
local status = require "purple.status"

describe("purple.files.read", function()
  after_each(H.cleanup)

  it("returns the whole content, or nil for a missing or unreadable file", function()
    local d = H.tmpdir()
    H.write(d .. "/f", "a\0b\nc")
    assert.are.equal("a\0b\nc", files.read(d .. "/f"))
    assert.is_nil(files.read(d .. "/missing"))
    assert.is_nil(files.read(d .. "/missing/x"))
  end)
end)

describe("purple.cli.usage", function()
  it("prints sizes in B, K, M, G and T", function()
    assert.are.same({ "0B", "1023B", "1.0K", "1.5M", "2.0G", "1024.0T", "?" },
      { usage.bytes(0), usage.bytes(1023), usage.bytes(1024), usage.bytes(1536 * 1024), usage.bytes(2 << 30),
        usage.bytes(1 << 50), usage.bytes(nil) })
  end)

  it("summarises a result's usage in one line, or nothing without measurements", function()
    assert.are.equal("", usage.summary({}))
    assert.are.equal("; cpu 0.49s user + 0.01s sys, peak memory 52.3M, peak pids 2, read 0B, written 4.0K, "
      .. "OOM-killed, timed out", usage.summary({ oom_killed = true, timed_out = true, usage = {
        user_seconds = 0.49, system_seconds = 0.01, memory_peak_bytes = math.floor(52.3 * 1048576),
        pids_peak = 2, read_bytes = 0, write_bytes = 4096 } }))
    assert.are.equal("; cpu 0.00s user + 0.00s sys, peak memory ?, read ?, written ?", usage.summary({ usage = {} }))
  end)
end)

describe("purple.status", function()
  it("holds the documented exit statuses", function()
    assert.are.same({ 124, 125, 126, 127 },
      { status.TIMEOUT, status.SETUP, status.NOT_EXECUTABLE, status.NOT_FOUND })
  end)
end)
