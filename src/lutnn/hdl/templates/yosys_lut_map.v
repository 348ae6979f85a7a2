// Yosys techmap file used by lutnn.hdl.synthesize (ecp5, or lut_mapping="abc"; not part of the
// design): maps each {{top}}_lut instance to a Yosys $lut cell of the same function before
// synthesis.  Yosys elaborates a $lut far faster than the behavioral INIT[a] lookup (a mux tree
// per node); ABC then maps everything (to LUT1..LUT6, or LUT4s for ECP5).
module \{{top}}_lut (a, y);
  parameter K = 1;
  parameter INIT = 0;
  input [K-1:0] a;
  output y;
  \$lut #(.WIDTH(K), .LUT(INIT[(1 << K) - 1:0])) _TECHMAP_REPLACE_ (.A(a), .Y(y));
endmodule
