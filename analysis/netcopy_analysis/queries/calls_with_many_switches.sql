-- Traced calls that were switched out more than N times (voluntary + involuntary).
-- Parameters: ? = N.
SELECT mode, size, threads, rep, role, syscall, tid, start, wall_ns, offcpu_ns,
       voluntary_cs, involuntary_cs
FROM syscalls
WHERE voluntary_cs + involuntary_cs > ?
ORDER BY voluntary_cs + involuntary_cs DESC, start
LIMIT 1000;
