-- The fuzz harnesses (spec/fuzz/fuzz_*.c) replayed without libFuzzer: each regression case
-- (spec/fuzz/regress/NAME/*, an input that once crashed, hung or broke an invariant) and each seed
-- (spec/fuzz/corpus/NAME/*) through build/fuzz/replay/NAME, built with ASan and UBSan by
-- `make fuzz-replay` (part of `make check`). A harness aborts on any finding, so a case that
-- regresses fails here with the sanitizer's or the harness's report.
local H = require "spec_helper"

local function harnesses()
  local names = {}
  local p = io.popen("ls " .. H.q(H.tree .. "/spec/fuzz") .. " | sed -n 's/^\\(fuzz_.*\\)\\.c$/\\1/p'")
  for l in p:lines() do names[#names + 1] = l end
  p:close()
  return names
end

describe("fuzz regression cases", function()
  local names = harnesses()

  it("exist for the harnesses of spec/fuzz/", function()
    assert.is_true(#names >= 4, "spec/fuzz/ holds the harnesses")
  end)

  for _, name in ipairs(names) do
    it("replay through " .. name .. " without a finding", function()
      local bin = H.tree .. "/build/fuzz/replay/" .. name
      assert.is_true(H.sh("test -x " .. H.q(bin) .. " && echo yes") == "yes\n",
        bin .. " is built by `make fuzz-replay`")
      local dirs = {}
      for _, d in ipairs({ "regress", "corpus" }) do
        local dir = H.tree .. "/spec/fuzz/" .. d .. "/" .. name
        if H.sh("test -d " .. H.q(dir) .. " && echo yes") == "yes\n" then dirs[#dirs + 1] = H.q(dir) end
      end
      if #dirs == 0 then return pending(name .. " has no regression cases or seeds yet") end
      local out, err, code = H.sh(H.q(bin) .. " " .. table.concat(dirs, " "))
      assert.are.equal(0, code, err)
      assert.truthy(out:match("^replayed %d+ inputs\n$"), out .. err)
    end)
  end
end)
