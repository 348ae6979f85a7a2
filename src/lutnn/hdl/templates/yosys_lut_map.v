// Yosys techmap file used by lutnn.hdl.synthesize (not part of the design): maps each
// {{top}}_lut instance straight to a Yosys $lut cell before synthesis.  Same function as the
// behavioral INIT[a] body, but Yosys elaborates a $lut about 3x faster than a constant table
// indexed by a variable; ABC still optimizes and maps everything afterwards.
module \{{top}}_lut (a, y);
  parameter K = 1;
  parameter INIT = 0;
  input [K-1:0] a;
  output y;
  \$lut #(.WIDTH(K), .LUT(INIT[(1 << K) - 1:0])) _TECHMAP_REPLACE_ (.A(a), .Y(y));
endmodule
