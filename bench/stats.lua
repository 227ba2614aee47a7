-- Small statistics for the benchmark scripts.
local M = {}

function M.median(xs)
  if not xs or #xs == 0 then return nil end
  local s = {}
  for i, v in ipairs(xs) do s[i] = v end
  table.sort(s)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) // 2] end
  return (s[n // 2] + s[n // 2 + 1]) / 2
end

-- Median over i of a[i] / b[i]: each round's pair shares the machine's state at that moment.
function M.paired_median(a, b)
  local r = {}
  for i = 1, math.min(#a, #b) do
    if a[i] and b[i] and b[i] > 0 then r[#r + 1] = a[i] / b[i] end
  end
  return M.median(r)
end

return M
