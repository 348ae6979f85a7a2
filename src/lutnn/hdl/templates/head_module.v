// {{title}}
module {{module}} (
  input  wire [{{in_msb}}:0] x,
  output wire [{{class_msb}}:0] cls,
  output wire [{{scores_msb}}:0] scores
);
{{body}}
endmodule
